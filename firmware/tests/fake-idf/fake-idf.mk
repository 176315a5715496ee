# The esp-idf port (ports/esp-idf/main: port.c, main.c) on the fake ESP-IDF (tests/fake-idf),
# with the app and the runtime: the host test test_esp_port. Included by firmware/Makefile (paths
# relative to firmware/); uses its CC, ALL_CFLAGS, ALL_LDFLAGS, BUILD and libedgeai.a.
#
#   make -C firmware esp-port-test          build $(BUILD)/test_esp_port and run it
#   make -C firmware SAN=1 esp-port-test    the same under ASan + UBSan
#
# Each fake component (tests/fake-idf/components/<name>) has its stub headers in include/ and its
# fake implementation in <name>/*.c; tests/fake-idf/host/sdkconfig.h stands for the sdkconfig.h
# ESP-IDF generates (the test checks it against ports/esp-idf/sdkconfig.defaults).

FAKE_IDF := tests/fake-idf
FAKE_IDF_INCLUDE := $(sort $(wildcard $(FAKE_IDF)/components/*/include))
FAKE_IDF_CFLAGS := -I$(FAKE_IDF)/host $(addprefix -I,$(FAKE_IDF_INCLUDE)) -Iports/esp-idf/main
FAKE_IDF_SRC := $(sort $(wildcard $(FAKE_IDF)/components/*/*.c))
ESP_PORT_SRC := ports/esp-idf/main/port.c ports/esp-idf/main/main.c tests/test_esp_port.c
ESP_PORT_OBJ := $(patsubst %.c,$(BUILD)/obj/esp/%.o,$(ESP_PORT_SRC) $(FAKE_IDF_SRC))

$(BUILD)/obj/esp/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(FAKE_IDF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/test_esp_port: $(ESP_PORT_OBJ) $(BUILD)/obj/app/app.o $(BUILD)/libedgeai.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(ESP_PORT_OBJ) $(BUILD)/obj/app/app.o $(BUILD)/libedgeai.a

.PHONY: esp-port-test
esp-port-test: $(BUILD)/test_esp_port
	$(BUILD)/test_esp_port ports/esp-idf/sdkconfig.defaults

-include $(ESP_PORT_OBJ:.o=.d)
