// Spot prices of several crypto coins from Coinbase's public API, fetched
// concurrently: the requests are made together and awaited with Promise.all,
// so three coins take about as long as one. Needs `http.fetch` allowed for
// api.coinbase.com in policy.toml (the repository's policy allows five calls
// per run); a coin that fails is reported, the others still answer.
async function run(args) {
  const coins = (args.coins ?? ["BTC", "ETH", "SOL"]).map((c) => String(c).toUpperCase());
  const currency = String(args.currency ?? "USD").toUpperCase();
  const settled = await Promise.allSettled(
    coins.map((coin) =>
      http.fetch({
        method: "GET",
        url: `https://api.coinbase.com/v2/prices/${coin}-${currency}/spot`,
        headers: [{ name: "accept", value: "application/json" }],
      }),
    ),
  );
  return coins.map((coin, i) => {
    const outcome = settled[i];
    if (outcome.status === "rejected") {
      return { coin, error: `${outcome.reason.code ?? "error"}: ${outcome.reason.message}` };
    }
    const response = outcome.value;
    if (response.status !== 200) return { coin, error: `coinbase answered ${response.status}` };
    const { data } = JSON.parse(response.body);
    return { coin: data.base, currency: data.currency, price: Number(data.amount) };
  });
}
