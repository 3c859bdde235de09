// Command minimal is the floor BenchmarkHandover compares kpay-rotator
// stage with: the least a program can do to hand a pair over safely, in
// one process. It probes the pair at KPay, writes and fsyncs a journal
// record twice (before and after the write), reads the secret, writes it
// back with the new pair, and reads it back. No checks, no retries.
//
//	minimal KPAY_URL SECRET_ID JOURNAL < "api_key\nsecret_key"
//
// AWS settings come from the environment, as for the daemon.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func main() {
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
}

func run(kpayURL, secretID, journal string) error {
	ctx := context.Background()
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	apiKey := in.Text()
	in.Scan()
	secretKey := in.Text()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, kpayURL+"/api/v1/payments/me", nil)
	req.Header.Set("X-API-Key", apiKey)
	req.Header.Set("X-Secret-Key", secretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %s", resp.Status)
	}

	f, err := os.OpenFile(journal, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	sync := func(line string) error {
		if _, err := f.WriteString(line + "\n"); err != nil {
			return err
		}
		return f.Sync()
	}
	if err := sync("verified"); err != nil {
		return err
	}

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &doc); err != nil {
		return err
	}
	doc["KPAY_API_KEY"], doc["KPAY_SECRET_KEY"] = apiKey, secretKey
	value, _ := json.Marshal(doc)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretID), SecretString: aws.String(string(value))}); err != nil {
		return err
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)}); err != nil {
		return err
	}
	return sync("written")
}
