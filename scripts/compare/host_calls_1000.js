// expect: {"calls": 1000}
// expect-host-calls: 1000
// 1,000 calls to the host function `host(message)`, which each runtime's wrapper
// defines: clambot log.writeSync, amla a registered tool, node a plain function.
// `await` because amla's tools are async-only; awaiting a plain value is cheap elsewhere.
let calls = 0;
for (let i = 0; i < 1000; i++) {
  await host("x");
  calls++;
}
return { calls };
