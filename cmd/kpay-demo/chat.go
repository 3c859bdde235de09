package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
)

// startChat is a stand-in for a Slack channel: it accepts incoming-webhook
// posts (Block Kit) and prints each message as a reader would see it.
func startChat() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
				Text *struct {
					Text string `json:"text"`
				} `json:"text"`
				Fields []struct {
					Text string `json:"text"`
				} `json:"fields"`
			} `json:"blocks"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &msg)
		var lines []string
		for _, b := range msg.Blocks {
			if b.Text != nil && (b.Type == "header" || b.Type == "section") {
				lines = append(lines, strings.Split(b.Text.Text, "\n")...)
			}
		}
		if len(lines) == 0 {
			lines = strings.Split(msg.Text, "\n")
		}
		for i, line := range lines {
			if strings.TrimSpace(line) == "" {
				continue
			}
			prefix := "    \033[36m💬 #kpay-alerts │\033[0m "
			if i > 0 {
				prefix = "    \033[36m               │\033[0m "
			}
			fmt.Println(prefix + strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(line))
		}
		fmt.Fprint(w, "ok")
	}))
}
