package postgres_test

import (
	"testing"

	"certd/issuer/store/storetest"
)

func TestAccountConformance(t *testing.T) {
	storetest.RunAccounts(t, func(t *testing.T) storetest.AccountStore { return open(t) })
}
