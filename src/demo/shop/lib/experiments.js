// A/B experiments through immune's SDK, when the shop is told where immune is
// (IMMUNE_URL, IMMUNE_CLIENT_TOKEN, and IMMUNE_SDK: the SDK's absolute path). Without them
// every user gets "control" and nothing is tracked.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run without a build */
const { pathToFileURL } = require('node:url');

const EXPERIMENT = 'EnhancedCheckout';

function createExperiments(env, log) {
  let client;
  let closed = false;
  const enabled = Boolean(env.IMMUNE_URL && env.IMMUNE_CLIENT_TOKEN && env.IMMUNE_SDK);
  const loading = enabled
    ? import(pathToFileURL(env.IMMUNE_SDK).href)
        .then(async (sdk) => {
          const c = sdk.createExperimentsClient({
            url: env.IMMUNE_URL,
            clientToken: env.IMMUNE_CLIENT_TOKEN,
            appName: 'shop',
            instanceId: env.SERVER_ID,
            refreshInterval: Number(env.IMMUNE_REFRESH_MS) || 5000,
          });
          if (closed) return c.close();
          client = c;
          await c.ready();
          log(`experiments: connected to ${env.IMMUNE_URL}`);
        })
        .catch((err) => log(`experiments: disabled (${err && err.message ? err.message : err})`))
    : Promise.resolve();

  return {
    enabled,
    loading,
    /** The user's branch of EnhancedCheckout: "control" or "Enhanced". */
    branch(userId) {
      if (!client || !userId) return 'control';
      try {
        return client.branchFor(EXPERIMENT, userId) || 'control';
      } catch {
        return 'control';
      }
    },
    track(userId, goal, value) {
      if (!client || !userId) return;
      try {
        client.track(userId, goal, value);
      } catch (err) {
        log(`experiments: track failed (${err.message})`);
      }
    },
    async close() {
      closed = true;
      if (client) await client.close();
    },
  };
}

module.exports = { createExperiments, EXPERIMENT };
