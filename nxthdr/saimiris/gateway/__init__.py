"""saimiris gateway: the HTTP API between users, who submit measurements, and agents, which run them.

Modules: `api` (routes and errors), `validation` (request bodies), `auth`
(agent key, OIDC tokens), `agents` (in-memory registry), `prefixes` (user
source prefixes), `store` and `db` (measurements, tracking, usage; SQLite or
PostgreSQL with migrations), `publisher` (Kafka records for the agents),
`openapi` (the served description), `app` (wiring), `cli`.

Decisions (see each module for the details):

* Agents authenticate with `Authorization: Bearer <shared agent key>`; after
  registering `{id, secret}` every call about that agent must also carry
  `X-Agent-Secret: <secret>` (401 when wrong or missing, 404 when the agent is
  not registered: the agent then registers again).
* The 32-bit user id is the first 4 bytes of SHA-256(sub); the user's source
  prefix on an agent is the agent's IPv6 /p followed by those 32 bits.
* Quota: probes x agents reserved at submission; when an agent completes (or
  the measurement is cancelled) its share drops to what it reported sent.
* Cancellation is announced on the probes topic: key = measurement id, empty
  value, one header per unfinished agent with
  `{"src_ip", "measurement_id", "end_of_measurement": true, "cancel": true}`.
"""
