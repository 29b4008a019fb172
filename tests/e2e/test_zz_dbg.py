import time
from tests.e2e.test_talk import open_join, pick, touch_draw, ink
from tests.e2e.test_talk import Downloads, SLOW_3G

def test_dbg(phone, talk_server):
    url, _, database = talk_server
    d = Downloads(phone)
    d.cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    open_join(phone, url)
    pick(phone, 1)
    touch_draw(phone, "1")
    print("ink", ink(phone))
    t = time.time()
    phone.locator("#send").tap()
    print("tap took", time.time() - t)
    for i in range(40):
        print(round(time.time() - t, 1), repr(phone.locator("#status").inner_text()), phone.locator("#send").is_disabled(), phone.locator("#result").is_visible())
        phone.wait_for_timeout(500)
        if phone.locator("#result").is_visible(): break
    print(d.snapshot())
