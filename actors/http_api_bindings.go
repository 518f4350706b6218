package actors

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/protocol"
)

// Bindings, addressed as RabbitMQ's management API does: /api/bindings/{vhost}/e/{source}/q/{queue} or
// …/e/{destination-exchange}, and one binding by its properties key: the percent-encoded routing key
// ("~" when empty), followed by "~" and a hash of the arguments when there are any.

func apiPropsKey(key string, args map[string]any) string {
	k := strings.ReplaceAll(url.PathEscape(key), "~", "%7E")
	if len(args) == 0 {
		if k == "" {
			return "~"
		}
		return k
	}
	return k + "~" + argsHash(args)
}

func (bv apiBindingView) json() map[string]any {
	dtype := "queue"
	if bv.dest.Exchange {
		dtype = "exchange"
	}
	return map[string]any{
		"source": bv.source, "vhost": bv.vhost, "destination": bv.dest.Name, "destination_type": dtype,
		"routing_key": bv.key, "arguments": apiArgs(bv.args), "properties_key": apiPropsKey(bv.key, bv.args),
	}
}

// apiBindingsJSON renders the bindings that keep returns true for.
func apiBindingsJSON(list []apiBindingView, keep func(apiBindingView) bool) []any {
	out := []any{}
	for _, bv := range list {
		if keep(bv) {
			out = append(out, bv.json())
		}
	}
	return out
}

func (b *Broker) apiBindings(r *http.Request, u *apiUser) (apiReply, error) {
	names, err := b.apiVhostsFor(r, u)
	if err != nil {
		return apiReply{}, err
	}
	views, err := b.vhostViews(names)
	if err != nil {
		return apiReply{}, err
	}
	out := []any{}
	for _, v := range views {
		out = append(out, apiBindingsJSON(v.allBindings(), func(apiBindingView) bool { return true })...)
	}
	return apiOK(out)
}

// apiExchangeBindings lists the bindings in which an exchange is the source (or the destination).
func (b *Broker) apiExchangeBindings(asSource bool) apiHandler {
	return func(r *http.Request, u *apiUser) (apiReply, error) {
		vname, _, err := b.apiVhostOf(r, u)
		if err != nil {
			return apiReply{}, err
		}
		v, err := b.vhostView(vname)
		if err != nil {
			return apiReply{}, err
		}
		name := apiExchangeName(r.PathValue("name"))
		if _, ok := v.exchange(name); !ok {
			return apiReply{}, apiErrorf(http.StatusNotFound, "exchange %q not found in virtual host %q", r.PathValue("name"), vname)
		}
		return apiOK(apiBindingsJSON(v.allBindings(), func(bv apiBindingView) bool {
			if asSource {
				return bv.source == name
			}
			return bv.dest == routing.Destination{Exchange: true, Name: name}
		}))
	}
}

func (b *Broker) apiQueueBindings(r *http.Request, u *apiUser) (apiReply, error) {
	v, q, _, err := b.apiQueueOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	return apiOK(apiBindingsJSON(v.allBindings(), func(bv apiBindingView) bool {
		return bv.dest == routing.Destination{Name: q.name}
	}))
}

// apiBindingPair resolves /e/{src}/{dtype}/{dst}: both ends must exist.
func (b *Broker) apiBindingPair(r *http.Request, u *apiUser) (*apiVhostView, string, routing.Destination, error) {
	vname, _, err := b.apiVhostOf(r, u)
	if err != nil {
		return nil, "", routing.Destination{}, err
	}
	var dest routing.Destination
	switch r.PathValue("dtype") {
	case "q":
		dest = routing.Destination{Name: r.PathValue("dst")}
	case "e":
		dest = routing.Destination{Exchange: true, Name: apiExchangeName(r.PathValue("dst"))}
	default:
		return nil, "", dest, apiErrorf(http.StatusNotFound, "a binding's destination is q/{queue} or e/{exchange}, not %s/", r.PathValue("dtype"))
	}
	v, err := b.vhostView(vname)
	if err != nil {
		return nil, "", dest, err
	}
	src := apiExchangeName(r.PathValue("src"))
	if _, ok := v.exchange(src); !ok {
		return nil, "", dest, apiErrorf(http.StatusNotFound, "exchange %q not found in virtual host %q", r.PathValue("src"), vname)
	}
	if dest.Exchange {
		if _, ok := v.exchange(dest.Name); !ok {
			return nil, "", dest, apiErrorf(http.StatusNotFound, "exchange %q not found in virtual host %q", dest.Name, vname)
		}
	} else if _, ok := v.queue(dest.Name); !ok {
		return nil, "", dest, apiErrorf(http.StatusNotFound, "queue %q not found in virtual host %q", dest.Name, vname)
	}
	return v, src, dest, nil
}

func (b *Broker) apiBindingsBetween(r *http.Request, u *apiUser) (apiReply, error) {
	v, src, dest, err := b.apiBindingPair(r, u)
	if err != nil {
		return apiReply{}, err
	}
	return apiOK(apiBindingsJSON(v.allBindings(), func(bv apiBindingView) bool { return bv.source == src && bv.dest == dest }))
}

// apiBind: POST /api/bindings/{vhost}/e/{src}/q/{queue} (or /e/{exchange}) {"routing_key", "arguments"}
// → 201 with the new binding's path in Location.
func (b *Broker) apiBind(r *http.Request, u *apiUser) (apiReply, error) {
	_, src, dest, err := b.apiBindingPair(r, u)
	if err != nil {
		return apiReply{}, err
	}
	if src == "" {
		return apiReply{}, apiErrorf(http.StatusForbidden, "the default exchange cannot be bound to explicitly")
	}
	body, err := apiDecodeBody(r)
	if err != nil {
		return apiReply{}, err
	}
	key, err := apiString(body, "routing_key", "")
	if err != nil {
		return apiReply{}, err
	}
	args, err := apiArgsFromBody(body)
	if err != nil {
		return apiReply{}, err
	}
	destKey := "destination_queue"
	if dest.Exchange {
		destKey = "destination_exchange"
	}
	req := protocol.Map{{Key: "source", Value: src}, {Key: destKey, Value: dest.Name}, {Key: "binding_key", Value: key},
		{Key: "arguments", Value: args}}
	_, vpid, _ := b.apiVhostOf(r, u)
	if _, err := b.mgmtCall(vpid, u.name, "POST", "/bindings", req); err != nil {
		return apiReply{}, err
	}
	goArgs, _ := mapArgs(protocol.Map{{Key: "arguments", Value: args}}, "arguments")
	loc := strings.TrimSuffix(r.URL.EscapedPath(), "/") + "/" + apiPropsKey(key, goArgs)
	return apiReply{status: http.StatusCreated, location: loc}, nil
}

// apiBindingByProps finds the binding of the route's {props} between {src} and {dst}.
func (b *Broker) apiBindingByProps(r *http.Request, u *apiUser) (apiBindingView, error) {
	v, src, dest, err := b.apiBindingPair(r, u)
	if err != nil {
		return apiBindingView{}, err
	}
	want := r.PathValue("props")
	for _, bv := range v.allBindings() {
		if bv.source != src || bv.dest != dest {
			continue
		}
		got := apiPropsKey(bv.key, bv.args)
		if un, err := url.PathUnescape(got); err == nil && un == want {
			return bv, nil
		}
	}
	return apiBindingView{}, apiErrorf(http.StatusNotFound, "no binding %q from %q to %q", want, src, dest.Name)
}

func (b *Broker) apiBinding(r *http.Request, u *apiUser) (apiReply, error) {
	bv, err := b.apiBindingByProps(r, u)
	if err != nil {
		return apiReply{}, err
	}
	return apiOK(bv.json())
}

// apiUnbind deletes one binding through the management operation at its location (each src=…;dstq=…
// part percent-encoded, as bindingLocation writes it).
func (b *Broker) apiUnbind(r *http.Request, u *apiUser) (apiReply, error) {
	bv, err := b.apiBindingByProps(r, u)
	if err != nil {
		return apiReply{}, err
	}
	if bv.source == "" {
		return apiReply{}, apiErrorf(http.StatusForbidden, "the default exchange's bindings cannot be deleted")
	}
	d := "dstq="
	if bv.dest.Exchange {
		d = "dste="
	}
	spec := "src=" + url.PathEscape(bv.source) + ";" + d + url.PathEscape(bv.dest.Name) + ";key=" + url.PathEscape(bv.key) +
		";args=" + argsHash(bv.args)
	_, vpid, _ := b.apiVhostOf(r, u)
	if _, err := b.mgmtCall(vpid, u.name, "DELETE", "/bindings/"+spec, nil); err != nil {
		return apiReply{}, err
	}
	return apiNoContent()
}
