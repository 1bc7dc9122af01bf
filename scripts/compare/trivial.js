// expect: 2
// expect-host-calls: 0
// The smallest script: what a run costs before any work (start-up, instantiate, result).
return 1 + 1;
