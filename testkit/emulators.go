package testkit

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Node scripts that start an emulator on a free loopback port and print
// "LISTENING <port>" once the server socket is bound.
const (
	dynaliteScript = `
const dynalite = require('dynalite');
const server = dynalite({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0});
server.listen(0, '127.0.0.1', (err) => {
  if (err) { console.error(err); process.exit(1); }
  console.log('LISTENING ' + server.address().port);
});`
	sesScript = `
const start = require('aws-ses-v2-local').default;
start({host: '127.0.0.1', port: 0}).then((s) => {
  console.log('LISTENING ' + s.address().port);
}, (err) => { console.error(err); process.exit(1); });`
)

// startupLimit bounds how long an emulator may take to come up (the first
// use may also install the Node tools, which happens before this clock).
const startupLimit = 60 * time.Second

// Dynalite starts the DynamoDB emulator (npm dynalite, in-memory, tables
// active at once) on a free loopback port and returns its endpoint URL. It
// is stopped when the test ends.
func Dynalite(t testing.TB) string {
	t.Helper()
	return startNode(t, "dynalite", dynaliteScript, "/")
}

// SESv2 starts the SES v2 emulator (npm aws-ses-v2-local) on a free
// loopback port and returns its endpoint URL. It keeps sent mail in memory;
// GET <url>/store lists it. It is stopped when the test ends.
func SESv2(t testing.TB) string {
	t.Helper()
	return startNode(t, "aws-ses-v2-local", sesScript, "/health-check")
}

// startNode runs script with node, waits for its LISTENING line, then polls
// readyPath until the server answers HTTP.
func startNode(t testing.TB, name, script, readyPath string) string {
	t.Helper()
	modules := NodeModules(t)
	cmd := exec.Command("node", "-e", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stderr = os.Stderr
	setDeathSignal(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("testkit: %s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testkit: start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				port <- p
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	deadline := time.NewTimer(startupLimit)
	defer deadline.Stop()
	var url string
	select {
	case p := <-port:
		url = "http://127.0.0.1:" + p
	case err := <-exited:
		t.Fatalf("testkit: %s exited before listening: %v", name, err)
	case <-deadline.C:
		t.Fatalf("testkit: %s did not listen within %s", name, startupLimit)
	}

	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url + readyPath)
		if err == nil {
			resp.Body.Close()
			return url
		}
		select {
		case err := <-exited:
			t.Fatalf("testkit: %s exited: %v", name, err)
		case <-deadline.C:
			t.Fatalf("testkit: %s at %s never answered: %v", name, url, err)
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
}

// Env returns the environment of the current process with the given
// variables set, replacing earlier values: for child processes in tests.
func Env(kv ...string) []string {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("testkit.Env: odd number of arguments %q", kv))
	}
	env := os.Environ()
	for i := 0; i < len(kv); i += 2 {
		prefix := kv[i] + "="
		out := env[:0:0]
		for _, e := range env {
			if !strings.HasPrefix(e, prefix) {
				out = append(out, e)
			}
		}
		env = append(out, prefix+kv[i+1])
	}
	return env
}
