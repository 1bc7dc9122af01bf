// expect: {"sum": 3, "text": "héllo wörld", "float": 0.5, "nested": {"list": [1, [2, 3]], "t": true, "n": null}}
return { sum: 1 + 2, text: "héllo " + "wörld", float: 1 / 2, nested: { list: [1, [2, 3]], t: true, n: null } };
