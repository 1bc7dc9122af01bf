// expect: {"inputBytes": 1124993, "records": 10000, "selected": 5321, "outputBytes": 453818, "hash": 87308424}
// expect-host-calls: 0
// Build a ~1.1 MB JSON document (10,000 records) from a fixed-seed generator (the
// scripts take no input, so every runtime builds the same bytes), JSON.stringify it,
// JSON.parse it back, filter/map/aggregate, and JSON.stringify the result. Integers
// and strings only (names carry a quote and a tab to escape): no float formatting
// that could differ between engines. The timing covers all of it.
let seed = 12345;
const next = (n) => {
  // xorshift32: exact in every engine, the same sequence everywhere.
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
};
const TAGS = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"];
const CITIES = ["Berlin", "Lagos", "Lima", "Osaka", "Perth", "Quito", "Riga", "Tunis"];
const records = [];
for (let id = 0; id < 10000; id++) {
  records.push({
    id,
    name: "u\"" + id.toString(36) + "\t" + next(100000),
    age: 18 + next(60),
    city: CITIES[next(CITIES.length)],
    active: next(3) !== 0,
    score: next(1000000),
    tags: [TAGS[next(8)], TAGS[next(8)]],
  });
}
const text = JSON.stringify(records);

const parsed = JSON.parse(text);
const selected = parsed
  .filter((r) => r.active && r.age >= 30)
  .map((r) => ({ id: r.id, name: r.name.toUpperCase(), city: r.city, score: r.score, tags: r.tags.join(",") }));
const byCity = {};
const byTag = {};
for (const r of selected) {
  const c = byCity[r.city] || (byCity[r.city] = { count: 0, score: 0 });
  c.count++;
  c.score += r.score;
  for (const t of r.tags.split(",")) byTag[t] = (byTag[t] || 0) + 1;
}
const out = JSON.stringify({ selected, byCity, byTag });

// A 32-bit hash of the output text: proves the whole document was produced identically.
let hash = 0;
for (let i = 0; i < out.length; i++) hash = (Math.imul(hash, 31) + out.charCodeAt(i)) >>> 0;
return { inputBytes: text.length, records: parsed.length, selected: selected.length, outputBytes: out.length, hash };
