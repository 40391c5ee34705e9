"""`make scale`: the product's real services on counting fakes and a virtual clock.

- `core`: the clock, the event heap, invocations; `params`: every assumed number (Google's
  limits, per-operation latencies in the cloud and locally, the deployment from Terraform);
- `calendar`: the Calendar and Meet fakes the figures are read from (lazy events, channels
  and notifications, Google's sliding windows); `store`: the metered Firestore; `pubsub`:
  topics and push subscriptions (ordering, backoff, dead letter, slots);
- `workload`: the users' changes; `scenario`: one deployment wired as `shared/wiring.py`
  wires it; `report`: figures, the "Done when" criteria, tables; `__main__`: the command.
"""
