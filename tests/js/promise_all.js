// expect: {"all": [1, 4, 9], "settled": ["fulfilled", "rejected"], "race": "first"}
const all = await Promise.all([1, 2, 3].map(async (x) => x * x));
const settled = await Promise.allSettled([Promise.resolve(1), Promise.reject(new Error("no"))]);
const race = await Promise.race([Promise.resolve("first"), new Promise(() => {})]);
return { all, settled: settled.map((s) => s.status), race };
