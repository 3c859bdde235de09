package config

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestZZTiming(t *testing.T) {
	files, _ := filepath.Glob("/root/.cache/go-build/fuzz/kpay-rotator/config/FuzzParse/*")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		// corpus file format: "go test fuzz v1\n[]byte(\"...\")\n"
		s := string(b)
		i := len("go test fuzz v1\n[]byte(")
		q, err := strconv.Unquote(s[i : len(s)-2])
		if err != nil {
			t.Log(f, err)
			continue
		}
		start := time.Now()
		Parse([]byte(q), "fuzz.toml")
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Logf("%s: %v (%d bytes)", f, d, len(q))
		}
	}
}
