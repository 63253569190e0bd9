package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// MailpitVersion is the mailpit release the SMTP tests run against.
const MailpitVersion = "v1.27.11"

// Mailpit is a running mailpit server: a real SMTP server that keeps what it
// receives and shows it through its HTTP API.
type Mailpit struct {
	SMTPAddr string // host:port
	APIURL   string // http://host:port
}

// StartMailpit installs mailpit (go install, into the tools cache) if needed,
// starts it on free loopback ports with extra flags, and stops it at cleanup.
func StartMailpit(t testing.TB, flags ...string) *Mailpit {
	t.Helper()
	return StartMailpitAt(t, "127.0.0.1:"+freePort(t), flags...)
}

// FreeAddr returns a loopback host:port nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + freePort(t)
}

// StartMailpitAt is StartMailpit with the SMTP server on a given address,
// for tests where something was already told to relay there.
func StartMailpitAt(t testing.TB, smtpAddr string, flags ...string) *Mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	httpPort := freePort(t)
	m := &Mailpit{SMTPAddr: smtpAddr, APIURL: "http://127.0.0.1:" + httpPort}
	args := append([]string{
		"--smtp", m.SMTPAddr, "--listen", "127.0.0.1:" + httpPort,
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--disable-version-check",
	}, flags...)
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("testkit: start mailpit: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("mailpit log:\n%s", logs.String())
		}
	})
	deadline := time.NewTimer(startupLimit)
	defer deadline.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(m.APIURL + "/api/v1/info")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", m.SMTPAddr); err == nil {
				c.Close()
				return m
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("testkit: mailpit exited: %v", err)
		case <-deadline.C:
			t.Fatalf("testkit: mailpit did not start within %s", startupLimit)
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
}

// MailpitMessage is a message summary from mailpit's API.
type MailpitMessage struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
	// Bcc lists envelope recipients the message headers do not name.
	Bcc []struct {
		Address string `json:"Address"`
	} `json:"Bcc"`
}

// Messages lists what mailpit received, newest first.
func (m *Mailpit) Messages(t testing.TB) []MailpitMessage {
	t.Helper()
	resp, err := http.Get(m.APIURL + "/api/v1/messages?limit=1000")
	if err != nil {
		t.Fatalf("testkit: mailpit messages: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Messages []MailpitMessage `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("testkit: mailpit messages: %v", err)
	}
	return out.Messages
}

// Raw returns the raw source of a message by mailpit's ID.
func (m *Mailpit) Raw(t testing.TB, id string) []byte {
	t.Helper()
	resp, err := http.Get(m.APIURL + "/api/v1/message/" + id + "/raw")
	if err != nil {
		t.Fatalf("testkit: mailpit raw: %v", err)
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("testkit: mailpit raw %s: %s %v", id, resp.Status, err)
	}
	return buf
}

// mailpitBinary returns the mailpit executable, building it once per
// machine with go install into the tools cache.
func mailpitBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MAILFLOW_MAILPIT"); p != "" {
		return p
	}
	dir := filepath.Join(toolsCache(t), "go-bin", "mailpit-"+MailpitVersion)
	bin := filepath.Join(dir, "mailpit")
	unlock := lockDir(t, dir)
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("testkit: the go command is needed to install mailpit")
	}
	cmd := exec.Command("go", "install", "github.com/axllent/mailpit@"+MailpitVersion)
	cmd.Env = Env("GOBIN", dir, "GOFLAGS", "-mod=mod", "CGO_ENABLED", "0")
	cmd.Dir = os.TempDir() // outside this module, so its go.mod does not apply
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testkit: go install mailpit: %v\n%s", err, out)
	}
	return bin
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
