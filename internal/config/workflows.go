package config

import (
	"errors"

	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/workflow"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// WorkflowOptions is the environment the workflows compile in: the User
// resource type with the custom extensions (their scopes and date
// attributes), the targets' names (target tasks), whether there is an
// entra section (Entra tasks) and whether the gateway can send email.
// The gateway compiles with it, reading the webhooks' secrets; Validate
// does no I/O and only checks how they are given.
func (c Config) WorkflowOptions() workflow.CompileOptions {
	o := workflow.CompileOptions{Entra: c.Entra != nil, Email: c.canEmail()}
	if rtypes, err := scim.ResourceTypes(c.SCIM.CustomExtensions); err == nil {
		o.Policy = []policy.Option{policy.WithResourceTypes(rtypes[0], rtypes[1])}
	} // else scim.custom_extensions reports the problem; the core types check the rest
	for _, t := range c.Targets {
		o.Targets = append(o.Targets, t.Name)
	}
	// The email templates: the built-in ones; those of a templates_dir
	// are read, and the names checked, when the gateway starts.
	if c.Notifications == nil || c.Notifications.TemplatesDir == "" {
		o.Templates = notify.DefaultTemplateNames()
	}
	return o
}

// canEmail reports whether the gateway can send email: the notifications
// section names an SMTP server.
func (c Config) canEmail() bool { return c.Notifications != nil && c.Notifications.SMTP != nil }

// validateWorkflows reports every problem of the workflows, each named
// workflows[i].<field>.
func (c Config) validateWorkflows(p *problems) {
	if len(c.Workflows) == 0 {
		return
	}
	o := c.WorkflowOptions()
	o.ReadSecret = func(field, inline, env, file string) (string, error) {
		return "", targets.CheckSecret(field, inline, env, file)
	}
	_, err := workflow.Compile(c.Workflows, o)
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if fe, ok := errors.AsType[*targets.ConfigError](e); ok {
			p.add(fe.Field, "%v", fe.Err)
		} else {
			p.add("workflows", "%v", e)
		}
	}
}
