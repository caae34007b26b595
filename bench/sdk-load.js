// A load generator in its own process (the noisy tenant of bench/sdk.js), so its event
// loop is not the one measuring the victim: autocannon at a fixed overall rate. It reports
// `ready` once loaded and starts on `go`, so its own start-up is not part of the measurement.
import autocannon from 'autocannon';

const { url, token, rate, connections, seconds } = JSON.parse(process.argv[2]);
process.once('message', () => {
  autocannon(
    { url, connections, duration: seconds, overallRate: rate, headers: { authorization: `Bearer ${token}` } },
    (err, r) => {
      if (err) throw err;
      process.send({
        type: 'done',
        total: r.requests.total,
        non2xx: r.non2xx,
        statusCodes: r.statusCodeStats,
        reqPerSec: r.requests.average,
        errors: r.errors,
      });
    },
  );
});
process.send({ type: 'ready' });
