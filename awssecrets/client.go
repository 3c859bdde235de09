// Package awssecrets is kpay-rotator's adapter for AWS Secrets Manager: it
// reads and writes a slot's secret (current value, its version and
// CreatedDate, and the version history used to date a pair) with the real
// aws-sdk-go-v2 client, converting the SDK's types into secretdoc's and
// classifying SDK failures into secretdoc's errors with a message that
// says what to fix. What the document holds, and how a write changes it,
// is secretdoc's: this package only carries it.
//
// Secret values leave this package only inside kpay.Secret.
package awssecrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"kpay-rotator/awssecrets/endpoint"
	"kpay-rotator/kpay"
	"kpay-rotator/secretdoc"
)

// Options configure New.
type Options struct {
	// Region; empty uses the SDK's default chain (AWS_REGION, profile).
	Region string
	// Endpoint overrides the service endpoint; it must pass
	// endpoint.Check. Empty leaves the SDK's own resolution, which honours
	// AWS_ENDPOINT_URL_SECRETS_MANAGER.
	Endpoint string
	// HTTPClient; nil uses the SDK default.
	HTTPClient *http.Client
	// CallTimeout bounds each API call including SDK retries. Default 30s.
	CallTimeout time.Duration
}

// Client reads and writes slot secrets.
type Client struct {
	sm          *secretsmanager.Client
	region      string
	callTimeout time.Duration
}

// New builds a client with the default credential chain.
func New(ctx context.Context, opts Options) (*Client, error) {
	var loadOpts []func(*awsconfig.LoadOptions) error
	if opts.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(opts.Region))
	}
	if opts.HTTPClient != nil {
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(opts.HTTPClient))
	}
	if opts.Endpoint != "" {
		e, err := endpoint.Check(opts.Endpoint, "the endpoint")
		if err != nil {
			return nil, fmt.Errorf("secretsmanager: %w", err)
		}
		opts.Endpoint = e
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("secretsmanager: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("secretsmanager: no AWS region: set [aws] region in the config or AWS_REGION")
	}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		// A fresh retryer per client (a shared one would share its retry
		// token bucket) that never retries a Secrets Manager quota error.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Retryables = append([]retry.IsErrorRetryable{noRetryQuota{}}, so.Retryables...)
		})
	})
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	return &Client{sm: sm, region: cfg.Region, callTimeout: opts.CallTimeout}, nil
}

// noRetryQuota stops the SDK from retrying LimitExceededException: it lists
// the code as throttling, but for Secrets Manager it means a quota (too many
// versions), which a retry seconds later cannot fix.
type noRetryQuota struct{}

func (noRetryQuota) IsErrorRetryable(err error) aws.Ternary {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "LimitExceededException" {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// Current reads the AWSCURRENT version of secretID.
func (c *Client) Current(ctx context.Context, secretID string) (secretdoc.Version, error) {
	return c.get(ctx, secretID, "", "AWSCURRENT")
}

// Previous reads the AWSPREVIOUS version of secretID: the one AWSCURRENT
// replaced.
func (c *Client) Previous(ctx context.Context, secretID string) (secretdoc.Version, error) {
	return c.get(ctx, secretID, "", "AWSPREVIOUS")
}

// Version reads one version of secretID by id.
func (c *Client) Version(ctx context.Context, secretID, versionID string) (secretdoc.Version, error) {
	return c.get(ctx, secretID, versionID, "")
}

func (c *Client) get(ctx context.Context, secretID, versionID, stage string) (secretdoc.Version, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.callTimeout, errors.New("secretsmanager: GetSecretValue took too long"))
	defer cancel()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := c.sm.GetSecretValue(ctx, in)
	if err != nil {
		err = c.classify("GetSecretValue", secretID, err)
		if errors.Is(err, secretdoc.ErrRejected) {
			// InvalidRequestException has several causes; a secret
			// scheduled for deletion is told apart by asking.
			if d, derr := c.deletedDate(ctx, secretID); derr == nil && !d.IsZero() {
				return secretdoc.Version{}, fmt.Errorf("%w: secret %q was deleted on %s and is gone for good on its deletion date unless restored: aws secretsmanager restore-secret --secret-id %s",
					secretdoc.ErrDeleted, secretID, d.UTC().Format(time.DateOnly), secretID)
			}
		}
		return secretdoc.Version{}, err
	}
	if out.SecretString == nil {
		return secretdoc.Version{}, fmt.Errorf("%w: secret %q holds binary data; kpay-rotator needs a JSON SecretString", secretdoc.ErrNotJSON, secretID)
	}
	v := secretdoc.Version{
		SecretID:  secretID,
		VersionID: aws.ToString(out.VersionId),
		Value:     kpay.NewSecret(*out.SecretString),
	}
	if out.CreatedDate != nil {
		v.Created = out.CreatedDate.UTC()
	}
	return v, nil
}

// deletedDate is when secretID was scheduled for deletion (zero if not).
func (c *Client) deletedDate(ctx context.Context, secretID string) (time.Time, error) {
	d, err := c.Describe(ctx, secretID)
	return d.DeletedDate, err
}

// Describe reads the secret's metadata (DescribeSecret).
func (c *Client) Describe(ctx context.Context, secretID string) (secretdoc.Description, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.callTimeout, errors.New("secretsmanager: DescribeSecret took too long"))
	defer cancel()
	out, err := c.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return secretdoc.Description{}, c.classify("DescribeSecret", secretID, err)
	}
	d := secretdoc.Description{
		DeletedDate:       aws.ToTime(out.DeletedDate),
		RotationEnabled:   aws.ToBool(out.RotationEnabled),
		RotationLambdaARN: aws.ToString(out.RotationLambdaARN),
	}
	for id, stages := range out.VersionIdsToStages {
		if slices.Contains(stages, "AWSCURRENT") {
			d.CurrentVersionID = id
		}
	}
	return d, nil
}

// History lists the secret's versions, oldest first, including versions
// without a staging label that AWS still keeps. Emulators that lack
// ListSecretVersionIds yield secretdoc.ErrUnsupported.
func (c *Client) History(ctx context.Context, secretID string) ([]secretdoc.VersionInfo, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.callTimeout, errors.New("secretsmanager: ListSecretVersionIds took too long"))
	defer cancel()
	var out []secretdoc.VersionInfo
	p := secretsmanager.NewListSecretVersionIdsPaginator(c.sm, &secretsmanager.ListSecretVersionIdsInput{
		SecretId:          aws.String(secretID),
		IncludeDeprecated: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, c.classify("ListSecretVersionIds", secretID, err)
		}
		for _, v := range page.Versions {
			info := secretdoc.VersionInfo{VersionID: aws.ToString(v.VersionId)}
			if v.CreatedDate != nil {
				info.Created = v.CreatedDate.UTC()
			}
			out = append(out, info)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}
