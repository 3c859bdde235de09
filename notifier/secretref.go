package notifier

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"kpay-rotator/kpay"
)

// SecretRef says where a receiver's credential (webhook URL, bot token,
// signing secret) comes from. Receivers call Load on every send rather
// than once at start, so replacing the file or credential takes effect on
// the next message without a reload.
type SecretRef interface {
	// Load reads the current value. Its error names the source, never
	// the value.
	Load() (kpay.Secret, error)
	// Describe names the source for messages ("file /run/…/slack-ops"),
	// never the value.
	Describe() string
}

// maxSecretFile bounds what Load reads: a webhook URL or a token is well
// under a kilobyte, so anything near this is the wrong file.
const maxSecretFile = 64 << 10

// FileSecret reads the value from a file, as url_file does.
type FileSecret struct{ Path string }

// Load reads the file, refusing one that group or others may read or
// write: as with ssh keys, a credential anyone on the host can read is
// already leaked, and saying so is kinder than sending with it.
func (f FileSecret) Load() (kpay.Secret, error) {
	return readSecretFile(f.Path, f.Describe(), true)
}

// Describe implements SecretRef.
func (f FileSecret) Describe() string { return "file " + f.Path }

// EnvSecret reads the value from an environment variable.
type EnvSecret struct{ Name string }

// Load implements SecretRef.
func (e EnvSecret) Load() (kpay.Secret, error) {
	v, ok := os.LookupEnv(e.Name)
	if !ok {
		return kpay.Secret{}, fmt.Errorf("%s is not set", e.Describe())
	}
	if v == "" {
		return kpay.Secret{}, fmt.Errorf("%s is empty", e.Describe())
	}
	return kpay.NewSecret(v), nil
}

// Describe implements SecretRef.
func (e EnvSecret) Describe() string { return "environment variable " + e.Name }

// CredentialSecret reads a systemd credential: the file Name in
// $CREDENTIALS_DIRECTORY, which systemd fills from LoadCredential= (or
// SetCredentialEncrypted=) for the service.
type CredentialSecret struct{ Name string }

// Load implements SecretRef. The file's mode is not checked: systemd
// creates it on a private, read-only mount with the service's owner, and
// an operator has no chmod to run there.
func (c CredentialSecret) Load() (kpay.Secret, error) {
	if c.Name == "" || c.Name == "." || c.Name == ".." || strings.ContainsAny(c.Name, `/\`) {
		return kpay.Secret{}, fmt.Errorf("%s: a credential name is a plain file name, without '/'", c.Describe())
	}
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return kpay.Secret{}, fmt.Errorf("%s: CREDENTIALS_DIRECTORY is not set; run under systemd with LoadCredential=%s:/path/to/file in the unit, or use a file instead", c.Describe(), c.Name)
	}
	return readSecretFile(filepath.Join(dir, c.Name), c.Describe(), false)
}

// Describe implements SecretRef.
func (c CredentialSecret) Describe() string { return "systemd credential " + c.Name }

// InlineSecret is a value written in the configuration itself.
type InlineSecret struct{ Value kpay.Secret }

// Load implements SecretRef.
func (i InlineSecret) Load() (kpay.Secret, error) {
	if i.Value.IsZero() {
		return kpay.Secret{}, errors.New("inline value is empty")
	}
	return i.Value, nil
}

// Describe implements SecretRef.
func (i InlineSecret) Describe() string { return "inline value in the configuration" }

func readSecretFile(path, what string, checkMode bool) (kpay.Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		// The *PathError names the path and the reason, which is what
		// the operator needs; the path itself is not secret.
		return kpay.Secret{}, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode
	// of the bytes read even if the file is replaced meanwhile.
	info, err := f.Stat()
	if err != nil {
		return kpay.Secret{}, fmt.Errorf("read %s: %w", what, err)
	}
	if info.IsDir() {
		return kpay.Secret{}, fmt.Errorf("read %s: it is a directory, not a file", what)
	}
	if perm := info.Mode().Perm(); checkMode && perm&0o077 != 0 {
		access := "readable"
		if perm&0o044 == 0 {
			access = "writable"
		}
		return kpay.Secret{}, fmt.Errorf("%s holds a secret but is %s by group or others (mode %04o); run: chmod 600 %s", what, access, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return kpay.Secret{}, fmt.Errorf("read %s: %w", what, err)
	}
	if len(data) > maxSecretFile {
		return kpay.Secret{}, fmt.Errorf("read %s: larger than %d KiB; is it the right file?", what, maxSecretFile>>10)
	}
	// Editors and `echo` add one newline; strip exactly that, so a value
	// that really ends in whitespace is not changed behind anyone's back.
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return kpay.Secret{}, fmt.Errorf("read %s: the file is empty", what)
	}
	return kpay.NewSecret(s), nil
}

// CheckInline runs check on ref's value now when ref is an InlineSecret,
// whose value can never change: a malformed inline URL or key is then a
// construction error (seen at start or reload) instead of a failure at the
// first alert. Other sources are checked when read, at send time.
func CheckInline(ref SecretRef, check func(kpay.Secret) error) error {
	in, ok := ref.(InlineSecret)
	if !ok {
		return nil
	}
	v, err := in.Load()
	if err != nil {
		return err
	}
	return check(v)
}
