package main

import (
	"context"
	"testing"
	"time"
)

// TestDemo runs the README's first command end to end, so CI proves it
// still works on a fresh machine.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about half a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, "", false); err != nil {
		t.Fatalf("demo: %v", err)
	}
}
