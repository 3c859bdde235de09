package awstest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"kpay-rotator/awssecrets/awstest"
)

// The emulator keeps Secrets Manager's token rule, which kumo ignores: a
// token names one immutable version.
func TestEmulator_ClientRequestTokenNamesOneVersion(t *testing.T) {
	e := awstest.Start()
	defer e.Close()
	ctx := context.Background()
	if _, err := e.PutJSON(ctx, "s", `{"a":1}`); err != nil {
		t.Fatal(err)
	}
	c := e.Client()
	const token = "11111111-1111-4111-8111-111111111111"
	put := func(v string) (*secretsmanager.PutSecretValueOutput, error) {
		return c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String(v), ClientRequestToken: aws.String(token)})
	}
	if _, err := put(`{"b":1}`); err != nil {
		t.Fatal(err)
	}
	before, _ := e.VersionCount(ctx, "s")
	if out, err := put(`{"b":1}`); err != nil || aws.ToString(out.VersionId) != token {
		t.Fatalf("same token, same value: %v %v, want the same version, no error", out, err)
	}
	if after, _ := e.VersionCount(ctx, "s"); after != before {
		t.Errorf("same token, same value made a version (%d -> %d)", before, after)
	}
	var apiErr smithy.APIError
	if _, err := put(`{"c":1}`); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ResourceExistsException" {
		t.Errorf("same token, another value: %v, want ResourceExistsException", err)
	}
	if v, _, _ := e.Current(ctx, "s"); v != `{"b":1}` {
		t.Errorf("the version was changed: %s", v)
	}
}

// SetRotation stands in for RotateSecret, which kumo lacks.
func TestEmulator_SetRotationShowsInDescribeSecret(t *testing.T) {
	e := awstest.Start()
	defer e.Close()
	ctx := context.Background()
	if _, err := e.PutJSON(ctx, "s", `{"a":1}`); err != nil {
		t.Fatal(err)
	}
	describe := func() *secretsmanager.DescribeSecretOutput {
		out, err := e.Client().DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := describe(); aws.ToBool(out.RotationEnabled) {
		t.Fatal("rotation enabled before SetRotation")
	}
	const lambda = "arn:aws:lambda:eu-west-1:123456789012:function:rotate-kpay"
	e.SetRotation("s", lambda)
	if out := describe(); !aws.ToBool(out.RotationEnabled) || aws.ToString(out.RotationLambdaARN) != lambda || aws.ToString(out.Name) != "s" {
		t.Errorf("after SetRotation: enabled %v lambda %q name %q", aws.ToBool(out.RotationEnabled), aws.ToString(out.RotationLambdaARN), aws.ToString(out.Name))
	}
	e.SetRotation("s", "")
	if out := describe(); aws.ToBool(out.RotationEnabled) {
		t.Error("rotation still enabled after SetRotation off")
	}
}

// AWSPREVIOUS moves with each new current version, as in Secrets Manager:
// repair's default source depends on it.
func TestEmulator_AWSPREVIOUSIsTheVersionBeforeCurrent(t *testing.T) {
	e := awstest.Start()
	defer e.Close()
	ctx := context.Background()
	var ids []string
	for _, v := range []string{`{"v":1}`, `{"v":2}`, `{"v":3}`} {
		id, err := e.PutJSON(ctx, "s", v)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	out, err := e.Client().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.VersionId); got != ids[1] || aws.ToString(out.SecretString) != `{"v":2}` {
		t.Errorf("AWSPREVIOUS = %s %s, want %s {\"v\":2}", got, aws.ToString(out.SecretString), ids[1])
	}
}
