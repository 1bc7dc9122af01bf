// expect: null
return undefined;
