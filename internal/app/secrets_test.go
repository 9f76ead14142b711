package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secretArgsEnv = "KC_ROBUST_SECRET_ARGS"

// TestSecretsHelper is the child of TestNothingSecretLogged: it runs the CLI with the
// arguments in $KC_ROBUST_SECRET_ARGS on the process's real stdout and stderr (client-go
// logs there directly).
func TestSecretsHelper(t *testing.T) {
	args := os.Getenv(secretArgsEnv)
	if args == "" {
		t.Skip("child of TestNothingSecretLogged")
	}
	if err := Execute(context.Background(), strings.Split(args, "\x1f")); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err) // as main does
	}
}

// secretKubeconfig writes a kubeconfig with a bearer token and a client certificate and
// key for an API server nothing listens on; it returns the path and the secrets, each
// as it could be printed (raw, PEM body lines, base64).
func secretKubeconfig(t *testing.T) (string, []string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "robust"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	token := "robust-secret-token-" + base64.RawURLEncoding.EncodeToString(kb[:24])
	b64 := base64.StdEncoding.EncodeToString
	cfg := `apiVersion: v1
kind: Config
current-context: robust
clusters:
- name: robust
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: robust-user
  user:
    token: ` + token + `
    client-certificate-data: ` + b64(certPEM) + `
    client-key-data: ` + b64(keyPEM) + `
contexts:
- name: robust
  context: {cluster: robust, user: robust-user, namespace: default}
`
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{token, b64(keyPEM), b64(kb), base64.RawURLEncoding.EncodeToString(kb[:24])}
	for _, l := range strings.Split(string(keyPEM), "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "-----") {
			secrets = append(secrets, l)
		}
	}
	return path, secrets
}

// TestNothingSecretLogged runs every verb at -vv (and at -v=9, client-go's most
// verbose) against a kubeconfig with a bearer token and a client key, the API server
// unreachable, and greps everything printed for the secrets.
func TestNothingSecretLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CLI in 30 child processes")
	}
	kc, secrets := secretKubeconfig(t)
	verbs := [][]string{
		{"network", "delay", "deploy/web", "--latency", "10ms", "--dry-run"},
		{"network", "loss", "deploy/web", "--percent", "5", "--dry-run"},
		{"network", "duplicate", "deploy/web", "--percent", "5", "--dry-run"},
		{"network", "corrupt", "deploy/web", "--percent", "5", "--dry-run"},
		{"network", "reorder", "deploy/web", "--percent", "5", "--dry-run"},
		{"network", "bandwidth", "deploy/web", "--rate", "1mbit", "--dry-run"},
		{"network", "partition", "deploy/web", "--to", "svc/db", "--dry-run"},
		{"network", "dns", "deploy/web", "--pattern", "example.com", "--error", "SERVFAIL", "--dry-run"},
		{"stress", "cpu", "deploy/web", "--dry-run"},
		{"stress", "memory", "deploy/web", "--size", "64Mi", "--dry-run"},
		{"io", "latency", "deploy/web", "--path", "/data", "--delay", "10ms", "--dry-run"},
		{"io", "fault", "deploy/web", "--path", "/data", "--percent", "5", "--dry-run"},
		{"io", "attr", "deploy/web", "--path", "/data", "--perm", "000", "--dry-run"},
		{"io", "mistake", "deploy/web", "--path", "/data", "--percent", "5", "--dry-run"},
		{"pod", "kill", "deploy/web", "--dry-run"},
		{"pod", "failure", "deploy/web", "--dry-run"},
		{"container", "kill", "deploy/web", "--dry-run"},
		{"container", "pause", "deploy/web", "--dry-run"},
		{"time", "shift", "deploy/web", "--offset", "1h", "--dry-run"},
		{"network", "loss", "deploy/web", "--percent", "5", "--yes", "--duration", "5s"},
		{"ls"}, {"status", "chaos-abcdefgh"}, {"stop", "--all", "--timeout", "2s"}, {"gc", "--dry-run"}, {"version"},
	}
	for _, v := range verbs {
		for _, verbosity := range []string{"-vv", "-v=9"} {
			if verbosity == "-v=9" && v[0] != "network" && v[0] != "ls" && v[0] != "gc" {
				continue
			}
			args := append([]string{verbosity, "--kubeconfig", kc, "--request-timeout", "3s"}, v...)
			cmd := exec.Command(os.Args[0], "-test.run=^TestSecretsHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), secretArgsEnv+"="+strings.Join(args, "\x1f"), "KUBECONFIG="+kc)
			out, err := cmd.CombinedOutput()
			if _, ok := err.(*exec.ExitError); err != nil && !ok {
				t.Fatalf("running the child: %v", err)
			}
			for _, s := range secrets {
				if strings.Contains(string(out), s) {
					t.Errorf("%v printed a secret (%.12s…):\n%s", args, s, out)
				}
			}
			if !strings.Contains(string(out), "127.0.0.1:1") && v[0] != "version" {
				t.Errorf("%v: the child did not reach the client (no error, no server in its output):\n%s", args, out)
			}
		}
	}
}
