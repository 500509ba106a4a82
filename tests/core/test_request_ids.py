"""Request ids: unique, cheap, recognisable."""


def test_request_ids_are_unique_across_generators_and_calls():
    from switchyard.core.request_ids import RequestIds

    a, b = RequestIds(), RequestIds()
    ids = [a() for _ in range(1000)] + [b() for _ in range(1000)]
    assert len(set(ids)) == 2000 and all(i.startswith("req_") and len(i) == 28 for i in ids)
