// args: {"coin": "BTC", "amounts": [1, 2, 3]}
// expect: {"coin": "btc", "total": 6}
return { coin: args.coin.toLowerCase(), total: args.amounts.reduce((a, b) => a + b, 0) };
