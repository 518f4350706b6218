package actors

import "net/http"

// registerManagementAPI mounts the HTTP management API on the broker's HTTP listener.
func (b *Broker) registerManagementAPI(mux *http.ServeMux) {
	_ = mux // the API is being built in this file (issue 9)
}
