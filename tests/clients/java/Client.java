// A stock Java client for tests/clients: java.net.http.HttpClient with its defaults
// (HTTP/2 preferred, so it offers `Upgrade: h2c` on http://), and the platform's 001
// token built with javax.crypto. Run with the source launcher: `java Client.java`.
//
// It reads one command a line on stdin and answers one line on stdout (tab-separated):
//   TOKEN <aid> <secret> <now_ms>            -> TOKEN <001 token>
//   <METHOD> <url> <authorization> <b64 body> -> REPLY <status> <content-type> <x-request-id> <b64 body>
// An empty authorization or body means none; a failure answers ERROR <message>.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public class Client {
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final SecureRandom RANDOM = new SecureRandom();

    /** "001" + base64(AES-128-CBC(secret, IV 00..0f, JSON padded with spaces)). */
    static String token(String aid, String secret, long nowMs) throws Exception {
        String json = "{\"aid\":\"" + aid + "\",\"gid\":\"null\",\"uid\":\"null\",\"ts\":" + nowMs
                + ",\"r\":" + RANDOM.nextInt(Integer.MAX_VALUE) + "}";
        byte[] plain = json.getBytes(StandardCharsets.UTF_8);
        byte[] padded = new byte[(plain.length + 15) / 16 * 16];
        java.util.Arrays.fill(padded, (byte) ' ');
        System.arraycopy(plain, 0, padded, 0, plain.length);
        byte[] iv = new byte[16];
        for (int i = 0; i < 16; i++) {
            iv[i] = (byte) i;
        }
        Cipher cipher = Cipher.getInstance("AES/CBC/NoPadding");
        cipher.init(Cipher.ENCRYPT_MODE,
                new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "AES"),
                new IvParameterSpec(iv));
        return "001" + Base64.getEncoder().encodeToString(cipher.doFinal(padded));
    }

    static String send(String method, String url, String authorization, String b64body)
            throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofSeconds(20));
        if (!authorization.isEmpty()) {
            request.header("Authorization", authorization);
        }
        if (b64body.isEmpty()) {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            byte[] bytes = Base64.getDecoder().decode(b64body);
            request.header("Content-Type", "application/json");
            if (method.endsWith("~")) {  // a body of unknown length: sent chunked
                request.method(method.substring(0, method.length() - 1),
                        HttpRequest.BodyPublishers.ofInputStream(
                                () -> new java.io.ByteArrayInputStream(bytes)));
            } else {
                request.method(method, HttpRequest.BodyPublishers.ofString(
                        new String(bytes, StandardCharsets.UTF_8)));
            }
        }
        HttpResponse<String> response =
                HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
        byte[] body = response.body().getBytes(StandardCharsets.UTF_8);
        return String.join("\t", "REPLY", Integer.toString(response.statusCode()),
                response.headers().firstValue("content-type").orElse(""),
                response.headers().firstValue("x-request-id").orElse(""),
                Base64.getEncoder().encodeToString(body));
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split("\t", -1);
            String out;
            try {
                if (f[0].equals("TOKEN")) {
                    out = "TOKEN\t" + token(f[1], f[2], Long.parseLong(f[3]));
                } else {
                    out = send(f[0], f[1], f[2], f[3]);
                }
            } catch (Exception e) {
                out = "ERROR\t" + e.toString().replace('\t', ' ').replace('\n', ' ');
            }
            System.out.println(out);
            System.out.flush();
        }
    }
}
