package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRun_AppsAndShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"--listen", "127.0.0.1:0", "--apps", "2"}, pw, &stderr)
		pw.Close()
		done <- code
	}()

	sc := bufio.NewScanner(pr)
	var lines []appLine
	for len(lines) < 2 && sc.Scan() {
		var l appLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("stdout line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 2 {
		t.Fatalf("got %d application lines, want 2 (scan error %v)", len(lines), sc.Err())
	}
	if lines[0].ID == lines[1].ID || lines[0].Test == nil || lines[1].Live == nil {
		t.Fatalf("got %+v, want two distinct applications with pairs", lines)
	}

	c := &http.Client{Timeout: 5 * time.Second}
	for _, l := range lines {
		req, _ := http.NewRequest("GET", l.BaseURL+"/api/v1/payments/me", nil)
		req.Header.Set("X-API-Key", l.Live.APIKey)
		req.Header.Set("X-Secret-Key", l.Live.SecretKey)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET /me: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET /me with a printed pair: got %d, want 200", resp.StatusCode)
		}
	}

	cancel() // what SIGINT/SIGTERM does through main
	if code := <-done; code != exitOK {
		t.Errorf("got exit code %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	for _, l := range lines {
		for _, k := range []string{l.Test.APIKey, l.Test.SecretKey, l.Live.APIKey, l.Live.SecretKey} {
			if strings.Contains(stderr.String(), k) {
				t.Error("a key appears in the logs; keys belong on stdout only")
			}
		}
	}
}

func TestRun_Usage(t *testing.T) {
	tests := []struct {
		args     []string
		want     int
		inStderr string
	}{
		{[]string{"--help"}, exitOK, "NEVER A REAL KPay"},
		{[]string{"--no-such-flag"}, exitUsage, "Try: kpay-sandbox --help"},
		{[]string{"--apps", "-1"}, exitUsage, "--apps"},
		{[]string{"--log-level", "loud"}, exitUsage, "--log-level"},
		{[]string{"extra"}, exitUsage, "unexpected argument"},
		{[]string{"--listen", "256.0.0.1:1"}, exitFail, "listen"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(context.Background(), tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("got exit code %d, want %d", got, tt.want)
			}
			if !strings.Contains(stderr.String(), tt.inStderr) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.inStderr)
			}
		})
	}
}
