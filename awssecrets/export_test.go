package awssecrets_test

import (
	"strings"

	"kpay-rotator/kpay"
)

func kpaySecret(s string) kpay.Secret { return kpay.NewSecret(s) }

func stringsContains(s, sub string) bool { return strings.Contains(s, sub) }
