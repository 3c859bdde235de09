package awssecrets_test

import (
	"kpay-rotator/kpay"
)

func kpaySecret(s string) kpay.Secret { return kpay.NewSecret(s) }
