// Package notify sends the gateway's notifications: email through an SMTP
// server and JSON webhooks (generic, or the shapes Microsoft Teams and
// Slack incoming webhooks accept), each message rendered from a template.
// Workflows (their email and webhook tasks) and alerts send through it.
package notify

import "context"

// Email is one email message. Text is required; HTML is optional (sent
// as multipart/alternative).
type Email struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers notifications. Its errors say whether a retry may help
// (errors.Is(err, ErrTransient)).
type Sender interface {
	// SendEmail sends e through the configured SMTP server.
	SendEmail(ctx context.Context, e Email) error
	// Notify posts a message to the named webhook channel of the
	// configuration, in that channel's format.
	Notify(ctx context.Context, channel string, m Message) error
}

// Message is a notification for a webhook channel: a title, a text, and
// facts (name, value pairs) that the formats show as they can.
type Message struct {
	Title string
	Text  string
	Facts [][2]string
}
