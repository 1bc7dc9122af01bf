// expect-error: result
// expect-message: circular
const a = {};
a.self = a;
return a;
