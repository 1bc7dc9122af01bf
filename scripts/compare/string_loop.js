// expect: {"iterations": 100000, "checksum": 2789419038, "length": 99968}
// expect-host-calls: 0
// 100,000 rounds of short-string work: concatenation, split, join, replace, indexOf,
// slicing and case changes, folded into a 32-bit checksum (Math.imul and >>> 0 keep
// the arithmetic exact, so every engine gets the same number).
let checksum = 0;
let length = 0;
let buffer = "";
for (let i = 0; i < 100000; i++) {
  const s = "item-" + i + ",alpha,beta," + (i % 97);
  const parts = s.split(",");
  const joined = parts.join("|").replace("alpha", "ALPHA").toUpperCase();
  const at = joined.indexOf("BETA");
  const tail = joined.slice(at, at + 6) + parts[3];
  buffer += tail.charAt(i % tail.length);
  if (buffer.length >= 64) {
    length += buffer.length;
    buffer = buffer.replace("B", "b").toLowerCase();
    checksum = (Math.imul(checksum, 31) + buffer.charCodeAt(7) + buffer.indexOf("a")) >>> 0;
    buffer = "";
  }
  checksum = (Math.imul(checksum, 33) ^ (joined.length + at + tail.charCodeAt(0))) >>> 0;
}
return { iterations: 100000, checksum, length };
