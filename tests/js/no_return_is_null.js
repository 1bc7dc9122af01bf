// expect: null
const x = 1 + 1;
