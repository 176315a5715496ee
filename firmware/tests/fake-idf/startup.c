/* The fake ESP-IDF's start: ESP-IDF's startup code creates the main task, which calls
 * app_main(); here picolibc's crt0 calls main(), which calls app_main(). Only linked, never
 * run: `make esp-idf-check` links it to prove every symbol of the app is defined. */
void app_main(void);

int main(void);

int main(void)
{
    app_main();
    return 0;
}
