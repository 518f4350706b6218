import json, sys, statistics as st, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    broker, case, run, js = line.split(' ', 3)
    d = json.loads(js)
    rows[(case, broker)].append(d)
cases = []
for (case, broker) in rows:
    if case not in cases: cases.append(case)
def med(xs): return st.median(xs) if xs else float('nan')
print("| case | Warren msg/s | RabbitMQ msg/s | ratio | Warren p50/p99 ms | RabbitMQ p50/p99 ms | Warren CPU µs/msg | RabbitMQ CPU µs/msg | errors W/R |")
print("|---|---|---|---|---|---|---|---|---|")
for case in cases:
    w, r = rows.get((case,'warren'),[]), rows.get((case,'rabbitmq'),[])
    def m(ds, k): return med([d[k] for d in ds])
    def cpu(ds): return med([d['broker_cpu_ticks']*10000.0/max(d['received'],1) for d in ds])
    wr, rr = m(w,'receive_rate'), m(r,'receive_rate')
    errs = f"{sum(d['errors']+d['missing'] for d in w)}/{sum(d['errors']+d['missing'] for d in r)}"
    print(f"| {case} | {wr:,.0f} | {rr:,.0f} | {wr/rr if rr else float('nan'):.2f} | {m(w,'latency_p50_ms'):.2f} / {m(w,'latency_p99_ms'):.2f} | {m(r,'latency_p50_ms'):.2f} / {m(r,'latency_p99_ms'):.2f} | {cpu(w):.1f} | {cpu(r):.1f} | {errs} |")
