// Command prodfaults is a production build that arms a fault injector: supervision's faults_test runs
// it to show the rules never fire outside a test binary.
package main

import (
	"os"

	"github.com/warren-mq/warren/supervision"
)

func main() {
	f := supervision.NewFaults()
	f.Inject("", "", "", -1) // every actor, every message
	f.Check("warren/vhost-%2F/q-orders-1", struct{}{})
	_, _ = os.Stdout.WriteString("inert\n")
}
