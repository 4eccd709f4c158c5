// A stock Go client for tests/clients: net/http's DefaultClient with its defaults.
// One command a line on stdin, one answer a line on stdout (tab-separated):
//
//	<METHOD> <url> <authorization> <b64 body> -> REPLY <status> <content-type> <x-request-id> <b64 body>
//
// An empty authorization or body means none; a failure answers ERROR <message>.
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func send(method, url, authorization, b64body string) (string, error) {
	var body io.Reader
	if b64body != "" {
		raw, err := base64.StdEncoding.DecodeString(b64body)
		if err != nil {
			return "", err
		}
		body = strings.NewReader(string(raw))
	}
	request, err := http.NewRequest(method, url, body)
	if err != nil {
		return "", err
	}
	if authorization != "" {
		request.Header.Set("Authorization", authorization)
	}
	if body != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		return "", err
	}
	defer response.Body.Close()
	reply, err := io.ReadAll(response.Body)
	if err != nil {
		return "", err
	}
	return strings.Join([]string{"REPLY", fmt.Sprint(response.StatusCode),
		response.Header.Get("Content-Type"), response.Header.Get("X-Request-Id"),
		base64.StdEncoding.EncodeToString(reply)}, "\t"), nil
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	for in.Scan() {
		f := strings.Split(in.Text(), "\t")
		out, err := send(f[0], f[1], f[2], f[3])
		if err != nil {
			out = "ERROR\t" + strings.NewReplacer("\t", " ", "\n", " ").Replace(err.Error())
		}
		fmt.Println(out)
	}
}
