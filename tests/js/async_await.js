// expect: [2, 4, 6]
const double = async (x) => x * 2;
const out = [];
for (const x of [1, 2, 3]) out.push(await double(x));
return out;
