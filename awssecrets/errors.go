package awssecrets

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"kpay-rotator/secretdoc"
)

// IAM actions each call needs, quoted in access-denied errors.
var iamAction = map[string]string{
	"GetSecretValue":       "secretsmanager:GetSecretValue",
	"ListSecretVersionIds": "secretsmanager:ListSecretVersionIds",
	"PutSecretValue":       "secretsmanager:PutSecretValue",
	"DescribeSecret":       "secretsmanager:DescribeSecret",
	"CreateSecret":         "secretsmanager:CreateSecret",
}

// classify maps an SDK error to a secretdoc sentinel with an actionable
// message. The SDK's own text is kept after the advice: it names request ids that
// AWS support asks for, and never holds secret values (CloudTrail and the
// SDK both keep SecretString out of errors).
func (c *Client) classify(op, secretID string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch code {
		case "ResourceNotFoundException":
			return fmt.Errorf("%w: %s: secret %q does not exist in region %s; create it, or fix secret_id (name or ARN) and [aws] region",
				secretdoc.ErrNotFound, op, secretID, c.region)
		case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException":
			return fmt.Errorf("%w: %s on secret %q: the AWS identity needs %s on this secret (and kms:Decrypt on its key if it uses a customer-managed KMS key); see the IAM policy in the README: %s",
				secretdoc.ErrAccessDenied, op, secretID, iamAction[op], apiErr.ErrorMessage())
		case "DecryptionFailure", "EncryptionFailure":
			return fmt.Errorf("%w: %s on secret %q: KMS refused (%s); the identity needs kms:Decrypt/kms:GenerateDataKey on the secret's key, and the key must be enabled",
				secretdoc.ErrAccessDenied, op, secretID, code)
		case "LimitExceededException":
			// The SDK retries this code as throttling; for Secrets Manager it
			// is a quota (too many versions), so retrying cannot help.
			return fmt.Errorf("%w: %s on secret %q: %s; wait for old versions to expire (AWS keeps unlabelled versions 24 h) or ask AWS to raise the quota",
				secretdoc.ErrLimit, op, secretID, apiErr.ErrorMessage())
		case "InvalidAction", "UnknownOperationException", "NotImplemented":
			return fmt.Errorf("%w: %s: %s", secretdoc.ErrUnsupported, op, apiErr.ErrorMessage())
		case "ResourceExistsException":
			return fmt.Errorf("%w: %s on secret %q: %s", secretdoc.ErrVersionExists, op, secretID, apiErr.ErrorMessage())
		case "InvalidRequestException":
			return fmt.Errorf("%w: %s on secret %q: %s (a secret scheduled for deletion must be restored first)", secretdoc.ErrRejected, op, secretID, apiErr.ErrorMessage())
		case "InvalidParameterException":
			return fmt.Errorf("%w: %s on secret %q: %s", secretdoc.ErrRejected, op, secretID, apiErr.ErrorMessage())
		}
		if apiErr.ErrorFault() == smithy.FaultClient && !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
			return fmt.Errorf("%w: %s on secret %q: %s: %s", secretdoc.ErrRejected, op, secretID, code, apiErr.ErrorMessage())
		}
		return fmt.Errorf("%w: %s on secret %q: %s: %s", secretdoc.ErrTransient, op, secretID, code, apiErr.ErrorMessage())
	}
	if isCredentialsError(err) {
		return fmt.Errorf("%w: %s on secret %q: configure the default AWS credential chain (instance profile, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): %v",
			secretdoc.ErrCredentials, op, secretID, err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("secretsmanager: %s on secret %q: %w", op, secretID, err)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// The endpoint URL holds no secret, but say where we tried.
		return fmt.Errorf("%w: %s on secret %q: cannot reach %s: %v", secretdoc.ErrTransient, op, secretID, uerr.URL, uerr.Err)
	}
	return fmt.Errorf("%w: %s on secret %q: %v", secretdoc.ErrTransient, op, secretID, err)
}

func isCredentialsError(err error) bool {
	// Credential-provider failures have no exported type: older SDKs wrap
	// them in a v4.SigningError, newer ones in the auth-scheme step
	// ("get identity: get credentials: ..."). Both say so in the text.
	msg := err.Error()
	return strings.Contains(msg, "get credentials") ||
		strings.Contains(msg, "failed to retrieve credentials") ||
		strings.Contains(msg, "failed to refresh cached credentials")
}
