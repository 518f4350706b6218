package routing_test

import (
	"fmt"

	"github.com/warren-mq/warren/actors/routing"
)

func Example() {
	tbl, err := routing.NewTable(routing.Topic)
	if err != nil {
		panic(err)
	}
	for _, b := range []routing.Binding{
		{Destination: routing.Destination{Name: "all-stock"}, Key: "stock.#"},
		{Destination: routing.Destination{Name: "nyse"}, Key: "stock.*.nyse"},
		{Destination: routing.Destination{Name: "nyse"}, Key: "#.nyse"},
	} {
		if _, err := tbl.Add(b); err != nil {
			panic(err)
		}
	}
	dst := make([]routing.Destination, 0, 8) // reuse it for every message
	dst = tbl.Match(dst[:0], "stock.ibm.nyse", nil)
	fmt.Println(len(dst), "destinations")
	dst = tbl.Match(dst[:0], "bond.nyse", nil)
	fmt.Println(dst[0].Name)
	// Output:
	// 2 destinations
	// nyse
}
