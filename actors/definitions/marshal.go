package definitions

import (
	"bytes"
	"encoding/json"
)

// The JSON shape of a definitions file, as `rabbitmqctl export_definitions` writes it.
type (
	fileJSON struct {
		RabbitVersion   string           `json:"rabbit_version,omitempty"`
		RabbitMQVersion string           `json:"rabbitmq_version,omitempty"`
		Users           []userJSON       `json:"users"`
		Vhosts          []vhostJSON      `json:"vhosts"`
		Permissions     []permissionJSON `json:"permissions"`
		Exchanges       []exchangeJSON   `json:"exchanges"`
		Queues          []queueJSON      `json:"queues"`
		Bindings        []bindingJSON    `json:"bindings"`
	}
	userJSON struct {
		Name             string   `json:"name"`
		Password         string   `json:"password,omitempty"`
		PasswordHash     string   `json:"password_hash,omitempty"`
		HashingAlgorithm string   `json:"hashing_algorithm,omitempty"`
		Tags             []string `json:"tags"`
	}
	vhostJSON struct {
		Name string `json:"name"`
	}
	permissionJSON struct {
		User      string `json:"user"`
		Vhost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	}
	exchangeJSON struct {
		Name       string         `json:"name"`
		Vhost      string         `json:"vhost"`
		Type       string         `json:"type"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Internal   bool           `json:"internal"`
		Arguments  map[string]any `json:"arguments"`
	}
	queueJSON struct {
		Name       string         `json:"name"`
		Vhost      string         `json:"vhost"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Exclusive  bool           `json:"exclusive,omitempty"` // RabbitMQ never exports exclusive queues
		Arguments  map[string]any `json:"arguments"`
	}
	bindingJSON struct {
		Source          string         `json:"source"`
		Vhost           string         `json:"vhost"`
		Destination     string         `json:"destination"`
		DestinationType string         `json:"destination_type"`
		RoutingKey      string         `json:"routing_key"`
		Arguments       map[string]any `json:"arguments"`
	}
)

// Marshal writes d in the shape of `rabbitmqctl export_definitions` (indented, lists never null,
// arguments always an object), so Parse reads back what it wrote and RabbitMQ can import it.
func (d *Definitions) Marshal() ([]byte, error) {
	f := fileJSON{
		RabbitVersion: d.RabbitVersion, RabbitMQVersion: d.RabbitVersion,
		Users: []userJSON{}, Vhosts: []vhostJSON{}, Permissions: []permissionJSON{},
		Exchanges: []exchangeJSON{}, Queues: []queueJSON{}, Bindings: []bindingJSON{},
	}
	for _, u := range d.Users {
		tags := u.Tags
		if tags == nil {
			tags = []string{}
		}
		f.Users = append(f.Users, userJSON{u.Name, u.Password, u.PasswordHash, u.HashingAlgorithm, tags})
	}
	for _, v := range d.Vhosts {
		f.Vhosts = append(f.Vhosts, vhostJSON(v))
	}
	for _, p := range d.Permissions {
		f.Permissions = append(f.Permissions, permissionJSON{p.User, vhostOrDefault(p.Vhost), p.Configure, p.Write, p.Read})
	}
	for _, x := range d.Exchanges {
		f.Exchanges = append(f.Exchanges, exchangeJSON{x.Name, vhostOrDefault(x.Vhost), x.Type, x.Durable,
			x.AutoDelete, x.Internal, argsOrEmpty(x.Arguments)})
	}
	for _, q := range d.Queues {
		f.Queues = append(f.Queues, queueJSON{q.Name, vhostOrDefault(q.Vhost), q.Durable, q.AutoDelete,
			q.Exclusive, argsOrEmpty(q.Arguments)})
	}
	for _, b := range d.Bindings {
		f.Bindings = append(f.Bindings, bindingJSON{b.Source, vhostOrDefault(b.Vhost), b.Destination,
			b.DestinationType, b.RoutingKey, argsOrEmpty(b.Arguments)})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func vhostOrDefault(v string) string {
	if v == "" {
		return DefaultVhost
	}
	return v
}

func argsOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
