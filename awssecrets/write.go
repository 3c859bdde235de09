package awssecrets

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"kpay-rotator/kpay"
)

// Put writes value as a new AWSCURRENT version of secretID with
// ClientRequestToken token, so that repeating the call after a crash or a
// lost answer cannot create a second version (AWS returns the existing one
// for the same token and value). Returns the new version id.
func (c *Client) Put(ctx context.Context, secretID string, value kpay.Secret, token string) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.callTimeout, errors.New("secretsmanager: PutSecretValue took too long"))
	defer cancel()
	out, err := c.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(secretID),
		SecretString:       aws.String(value.Reveal()),
		ClientRequestToken: aws.String(token),
	})
	if err != nil {
		return "", c.classify("PutSecretValue", secretID, err)
	}
	return aws.ToString(out.VersionId), nil
}

// Create creates secretID holding value, its first version taking token.
func (c *Client) Create(ctx context.Context, secretID string, value kpay.Secret, token string) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.callTimeout, errors.New("secretsmanager: CreateSecret took too long"))
	defer cancel()
	out, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(secretID),
		SecretString:       aws.String(value.Reveal()),
		ClientRequestToken: aws.String(token),
		Description:        aws.String("KPay key pair managed by kpay-rotator"),
	})
	if err != nil {
		return "", c.classify("CreateSecret", secretID, err)
	}
	return aws.ToString(out.VersionId), nil
}
