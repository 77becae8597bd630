package entra

import (
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// knownAuthorities are the Microsoft identity platform's hosts, for which
// azidentity's instance discovery works; for any other host (a private
// cloud, the test fake) it is disabled.
var knownAuthorities = []string{"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn"}

// credential builds the azidentity credential of a validated, defaulted
// configuration, reading its secrets. transport carries its requests.
func credential(c Config, transport *http.Client) (azcore.TokenCredential, error) {
	u, _ := url.Parse(c.AuthorityHost)
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost},
		Transport: transport,
		// Token requests are retried by azcore's own policy; its
		// defaults (3 tries, exponential) stand.
		Retry: policy.RetryOptions{},
	}
	disableDiscovery := !slices.Contains(knownAuthorities, strings.ToLower(u.Hostname()))
	switch c.Credential {
	case CredentialClientSecret:
		s, err := readSecret("client_secret", c.ClientSecretEnv, c.ClientSecretFile)
		if err != nil {
			return nil, err
		}
		return azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, string(s),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: disableDiscovery})
	case CredentialClientCertificate:
		data, err := os.ReadFile(c.CertificateFile)
		if err != nil {
			return nil, fieldErr("certificate_file", "%v", err)
		}
		pw, err := readSecret("certificate_password", c.CertificatePasswordEnv, c.CertificatePasswordFile)
		if err != nil {
			return nil, err
		}
		var pwb []byte
		if pw != "" {
			pwb = []byte(pw)
		}
		certs, key, err := azidentity.ParseCertificates(data, pwb)
		if err != nil {
			return nil, fieldErr("certificate_file", "%s: %v", c.CertificateFile, err)
		}
		return azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: disableDiscovery,
				SendCertificateChain: c.SendCertificateChain})
	case CredentialWorkloadIdentity:
		if _, err := os.Stat(c.TokenFile); err != nil {
			return nil, fieldErr("token_file", "%v", err)
		}
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: opts,
			TenantID: c.TenantID, ClientID: c.ClientID, TokenFilePath: c.TokenFile, DisableInstanceDiscovery: disableDiscovery})
	case CredentialManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if c.ManagedIdentityClientID != "" {
			o.ID = azidentity.ClientID(c.ManagedIdentityClientID)
		}
		return azidentity.NewManagedIdentityCredential(o)
	case CredentialAzureCLI:
		return azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: c.TenantID})
	}
	return nil, fieldErr("credential", "unknown %q", c.Credential)
}
