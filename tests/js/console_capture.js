// expect: 1
// expect-console: out 1 {"a":[1,2]}\ninfo\nwarned\nerr\n
console.log("out", 1, { a: [1, 2] });
console.info("info");
console.warn("warned");
console.error("err");
return 1;
