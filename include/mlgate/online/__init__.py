"""Online features: the feature spec evaluated one event at a time, from an entity state.

``features``: the spec's features of one event from the entities' earlier events, with the
semantics of the Spark compiler (``mlgate.ml.features``) and from the same spec objects.
``store``: the embedded store; ``state``: joins, features and the update of one event.
"""
