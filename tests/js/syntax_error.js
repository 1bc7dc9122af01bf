// expect-error: syntax
// expect-message: SyntaxError
// expect-position: 4:1
let x = ;
