"""The server pool's rules, on in-process servers (plain async functions, no sockets): balance
by requests in flight, at most `per_server` each, a failing server out and back after its
cooldown, the caller's error when every server failed the request."""

import asyncio

import pytest

from r1data.backends.server_pool import ServerPool, split_urls


class Down(Exception):
    pass


class Servers:
    """Clients that record concurrency and fail while their server is marked dead."""

    def __init__(self):
        self.dead: set[str] = set()
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.served: dict[str, int] = {}

    def client(self, url):
        return url

    async def call(self, url, seconds=0.01):
        if url in self.dead:
            raise Down(f"{url} refused the connection")
        self.in_flight[url] = self.in_flight.get(url, 0) + 1
        self.peak[url] = max(self.peak.get(url, 0), self.in_flight[url])
        await asyncio.sleep(seconds)
        self.in_flight[url] -= 1
        self.served[url] = self.served.get(url, 0) + 1
        return url


def pool(servers, urls, **kw):
    return ServerPool(urls, servers.client, is_down=lambda e: isinstance(e, Down), **kw)


def test_requests_are_balanced_with_at_most_per_server_in_flight():
    servers = Servers()
    p = pool(servers, ["a", "b", "c"], per_server=2)

    async def run():
        await asyncio.gather(*(p.call(servers.call) for _ in range(60)))

    asyncio.run(run())
    assert sum(servers.served.values()) == 60 and min(servers.served.values()) >= 15
    assert max(servers.peak.values()) == 2


def test_a_dead_server_is_taken_out_its_work_moved_and_retried_after_its_cooldown():
    servers = Servers()
    servers.dead.add("a")
    p = pool(servers, ["a", "b"], per_server=4, cooldown=0.2)

    async def run():
        first = await asyncio.gather(*(p.call(servers.call) for _ in range(10)))
        servers.dead.clear()  # a restarts
        await asyncio.sleep(0.25)  # past its cooldown
        second = await asyncio.gather(*(p.call(servers.call) for _ in range(10)))
        return first, second

    first, second = asyncio.run(run())
    assert first == ["b"] * 10  # nothing lost, all moved to b
    assert "a" in second  # back in the pool
    report = {r["url"]: r for r in p.report()}
    assert report["a"]["times_taken_out"] == 1 and not report["a"]["out_now"]
    assert p.moved >= 1


def test_when_every_server_failed_the_caller_gets_the_error():
    servers = Servers()
    servers.dead.update({"a", "b"})
    p = pool(servers, ["a", "b"], per_server=1)
    with pytest.raises(Down):
        asyncio.run(p.call(servers.call))


def test_a_5xx_answer_moves_the_request_unless_no_server_is_left():
    p = ServerPool(["a", "b"], lambda url: url, per_server=1, is_down=lambda e: False,
                   failed_result=lambda answer: answer == "503")

    async def answer(url):
        return "503" if url == "a" else "ok"

    assert asyncio.run(p.call(answer)) in ("ok",)
    lonely = ServerPool(["a"], lambda url: url, per_server=1, is_down=lambda e: False,
                        failed_result=lambda answer: answer == "503")
    assert asyncio.run(lonely.call(answer)) == "503"  # the caller's retry policy decides


def test_urls_are_split_and_duplicates_refused():
    assert split_urls(["http://a/v1/", " http://b/v1"]) == ["http://a/v1", "http://b/v1"]
    with pytest.raises(ValueError, match="listed twice"):
        ServerPool(["http://a/v1", "http://a/v1"], lambda u: u, per_server=1, is_down=lambda e: True)
