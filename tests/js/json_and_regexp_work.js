// expect: {"parsed": {"a": [1, 2]}, "match": ["2026-11-22", "2026"], "date": true}
const parsed = JSON.parse('{"a":[1,2]}');
const m = /(\d{4})-\d{2}-\d{2}/.exec("on 2026-11-22");
return { parsed, match: [m[0], m[1]], date: new Date(0).toISOString() === "1970-01-01T00:00:00.000Z" };
