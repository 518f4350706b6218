package definitions

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Fields RabbitMQ writes that carry no behaviour for Warren; they are accepted without a warning.
var (
	quietTopLevel = []string{"rabbitmq_version", "product_name", "product_version"}
	quietVhost    = []string{"description", "tags", "metadata"}
	quietQueue    = []string{"type"} // informational copy of arguments["x-queue-type"] in 3.10+ exports
)

func (p *parser) parse(data []byte) (*Definitions, error) {
	var top map[string]json.RawMessage
	if err := decodeStrict(data, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, errors.New("the file must hold a JSON object")
		}
		return nil, err
	}
	if top == nil {
		return nil, errors.New("the file must hold a JSON object")
	}
	root := &entry{p: p, label: "top level", fields: top}
	d := &Definitions{RabbitVersion: root.str("rabbit_version")}
	if v := root.str("rabbitmq_version"); d.RabbitVersion == "" {
		d.RabbitVersion = v
	}
	if root.err != nil {
		return nil, root.err
	}

	r := refs{vhosts: map[string]bool{DefaultVhost: true}, vhostIndex: map[string]int{}, users: map[string]int{}, exchanges: map[string]int{},
		queues: map[string]int{}, permissions: map[string]int{}}
	// Vhosts and users first: the other sections refer to them.
	steps := []struct {
		name string
		each func(i int, e *entry) error
	}{
		{"vhosts", func(i int, e *entry) error { return p.vhost(d, &r, i, e) }},
		{"users", func(i int, e *entry) error { return p.user(d, &r, i, e) }},
		{"permissions", func(i int, e *entry) error { return p.permission(d, &r, i, e) }},
		{"exchanges", func(i int, e *entry) error { return p.exchange(d, &r, i, e) }},
		{"queues", func(i int, e *entry) error { return p.queue(d, &r, i, e) }},
		{"bindings", func(i int, e *entry) error { return p.binding(d, &r, e) }},
	}
	for _, s := range steps {
		if err := p.section(root, s.name, s.each); err != nil {
			return nil, err
		}
	}
	// Whatever is left at the top level (policies, parameters, topic_permissions, …) is not applied.
	if err := root.done(quietTopLevel...); err != nil {
		return nil, err
	}
	return d, nil
}

// refs indexes what later entries may refer to, and what must not be declared twice.
type refs struct {
	vhosts      map[string]bool // listed vhosts and the default one
	vhostIndex  map[string]int  // listed vhosts → index
	users       map[string]int  // name → index, for duplicate messages
	exchanges   map[string]int  // vhost + "\x00" + name → index
	queues      map[string]int
	permissions map[string]int // vhost + "\x00" + user → index
}

// section runs each over the objects of the list root[name]; absent or null is an empty list.
func (p *parser) section(root *entry, name string, each func(i int, e *entry) error) error {
	raw, ok := root.take(name)
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("%s must be a list", name)
	}
	for i, item := range items {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(item, &fields); err != nil || fields == nil {
			return fmt.Errorf("%s[%d] must be a JSON object", name, i)
		}
		e := &entry{p: p, section: name, label: fmt.Sprintf("%s[%d]", name, i), fields: fields}
		if err := each(i, e); err != nil {
			return err
		}
	}
	return nil
}

// named reads the name field (under key) and adds it to the entry's label.
func (e *entry) named(key string) string {
	name := e.str(key)
	if e.err == nil {
		e.label += fmt.Sprintf(" %q", name)
	}
	return name
}

// vhostOf reads the vhost field; absent means the default vhost.
func (e *entry) vhostOf() string {
	v := e.str("vhost")
	if v == "" {
		return DefaultVhost
	}
	return v
}

// check wraps a validation error with the entry's label.
func (e *entry) check(err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", e.label, err)
	}
	return nil
}

func (e *entry) knownVhost(r *refs, vhost string) error {
	if !r.vhosts[vhost] {
		return e.check(fmt.Errorf("vhost %q is not listed in vhosts", vhost))
	}
	return nil
}

func (p *parser) vhost(d *Definitions, r *refs, i int, e *entry) error {
	v := Vhost{Name: e.named("name")}
	if err := e.done(quietVhost...); err != nil {
		return err
	}
	if v.Name == "" {
		return e.check(errors.New("name must not be empty"))
	}
	if j, dup := r.vhostIndex[v.Name]; dup {
		return e.check(fmt.Errorf("vhost already listed by vhosts[%d]", j))
	}
	r.vhostIndex[v.Name] = i
	r.vhosts[v.Name] = true
	d.Vhosts = append(d.Vhosts, v)
	return nil
}

func (p *parser) user(d *Definitions, r *refs, i int, e *entry) error {
	u := User{
		Name:             e.named("name"),
		Password:         e.str("password"),
		PasswordHash:     e.str("password_hash"),
		HashingAlgorithm: e.str("hashing_algorithm"),
		Tags:             e.tags("tags"),
	}
	if err := e.done(); err != nil {
		return err
	}
	if err := e.check(checkUser(u)); err != nil {
		return err
	}
	if j, dup := r.users[u.Name]; dup {
		return e.check(fmt.Errorf("user already defined by users[%d]", j))
	}
	r.users[u.Name] = i
	d.Users = append(d.Users, u)
	return nil
}

func (p *parser) permission(d *Definitions, r *refs, i int, e *entry) error {
	pm := Permission{User: e.str("user"), Vhost: e.vhostOf()}
	if e.err == nil {
		e.label += fmt.Sprintf(" (user %q, vhost %q)", pm.User, pm.Vhost)
	}
	pm.Configure, pm.Write, pm.Read = e.str("configure"), e.str("write"), e.str("read")
	if err := e.done(); err != nil {
		return err
	}
	if err := e.check(checkPermission(pm)); err != nil {
		return err
	}
	if err := e.knownVhost(r, pm.Vhost); err != nil {
		return err
	}
	if _, ok := r.users[pm.User]; !ok && pm.User != builtinUser {
		return e.check(fmt.Errorf("user %q is not listed in users", pm.User))
	}
	key := pm.Vhost + "\x00" + pm.User
	if j, dup := r.permissions[key]; dup {
		return e.check(fmt.Errorf("permissions already set by permissions[%d]", j))
	}
	r.permissions[key] = i
	d.Permissions = append(d.Permissions, pm)
	return nil
}

// builtinUser exists in every broker (DESIGN.md §6), so permissions may name it without listing it.
const builtinUser = "guest"

func (p *parser) exchange(d *Definitions, r *refs, i int, e *entry) error {
	x := Exchange{
		Name:       e.named("name"),
		Vhost:      e.vhostOf(),
		Type:       e.str("type"),
		Durable:    e.boolean("durable"),
		AutoDelete: e.boolean("auto_delete"),
		Internal:   e.boolean("internal"),
		Arguments:  e.arguments("arguments"),
	}
	if err := e.done(); err != nil {
		return err
	}
	// RabbitMQ's import skips these two with a warning rather than failing; so does Warren.
	if x.Name == "" {
		p.skip(e.label, "the default exchange cannot be declared")
		return nil
	}
	if strings.HasPrefix(x.Name, "amq.") {
		p.skip(e.label, `exchange names starting with "amq." are reserved`)
		return nil
	}
	if err := e.check(checkExchange(x)); err != nil {
		return err
	}
	if err := e.knownVhost(r, x.Vhost); err != nil {
		return err
	}
	key := x.Vhost + "\x00" + x.Name
	if j, dup := r.exchanges[key]; dup {
		return e.check(fmt.Errorf("exchange already defined by exchanges[%d]", j))
	}
	r.exchanges[key] = i
	d.Exchanges = append(d.Exchanges, x)
	return nil
}

func (p *parser) queue(d *Definitions, r *refs, i int, e *entry) error {
	q := Queue{
		Name:       e.named("name"),
		Vhost:      e.vhostOf(),
		Durable:    e.boolean("durable"),
		AutoDelete: e.boolean("auto_delete"),
		Exclusive:  e.boolean("exclusive"),
		Arguments:  e.arguments("arguments"),
	}
	if err := e.done(quietQueue...); err != nil {
		return err
	}
	if q.Name == "" {
		return e.check(errors.New("name must not be empty"))
	}
	// As RabbitMQ's import does: "amq." queue names are reserved for server-named queues.
	if strings.HasPrefix(q.Name, "amq.") {
		p.skip(e.label, `queue names starting with "amq." are reserved`)
		return nil
	}
	if err := e.check(checkQueueArguments(q.Arguments)); err != nil {
		return err
	}
	if err := e.knownVhost(r, q.Vhost); err != nil {
		return err
	}
	key := q.Vhost + "\x00" + q.Name
	if j, dup := r.queues[key]; dup {
		return e.check(fmt.Errorf("queue already defined by queues[%d]", j))
	}
	r.queues[key] = i
	d.Queues = append(d.Queues, q)
	return nil
}

func (p *parser) binding(d *Definitions, r *refs, e *entry) error {
	b := Binding{
		Source:          e.str("source"),
		Vhost:           e.vhostOf(),
		Destination:     e.str("destination"),
		DestinationType: e.str("destination_type"),
	}
	if e.err == nil {
		e.label += fmt.Sprintf(" %q -> %s %q", b.Source, b.DestinationType, b.Destination)
	}
	b.RoutingKey = e.str("routing_key")
	b.Arguments = e.arguments("arguments")
	if err := e.done(); err != nil {
		return err
	}
	if err := e.check(checkBinding(b)); err != nil {
		return err
	}
	if err := e.knownVhost(r, b.Vhost); err != nil {
		return err
	}
	d.Bindings = append(d.Bindings, b)
	return nil
}
